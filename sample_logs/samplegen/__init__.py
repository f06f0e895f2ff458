"""The sample-log generator's modules; ../generate.py runs them and is the command line.

Each module imports only modules listed before it, never the other way round:

    story            the four weeks, servers, networks, customers, attackers, shared helpers
    postfix          World (all events and processes), smtpd/postscreen, queue, pids, writer
    postfix_traffic  who connects to mail1/mail2 and when
    exim             mx3/mx4 settings, ExWorld (deliveries, queue runs), pids and ids, writer
    exim_smtp        ExConn: one SMTP connection to mx3 or mx4
    exim_traffic     who connects to mx3/mx4 and when
    truth            classification, truth/*.csv rows, customers.csv, ipasn.dat, asnames.json,
                     relaywatch.toml

Standard library only, like generate.py.
"""
