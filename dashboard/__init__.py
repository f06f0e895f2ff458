"""relaywatch's Dash dashboard: views of the analyzer's session table."""
