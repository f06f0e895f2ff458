"""One module per dashboard page, each with its layout and callbacks."""
