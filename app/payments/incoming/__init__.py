"""Money in from the bank: statement files (camt.053, CODA), matching their lines to what they
pay, and the cash and matching screens.

    statements/   parsers: detect the format, read camt.053 / CODA 2 into ParsedStatement
    importing     one file, one transaction: parse, skip what was imported, match, book, report
    matching      the matching rules (reference, invoice number, direct debit, IBAN, amount)
    picking       matching by hand: candidates for money no rule could place, booking a pick
    returns       returns and reversals of money in that nobody has reviewed yet
    bulk          the import's set-wise writer (same rules as app.payments.services)
    models        BankStatement, StatementLine
    views, cli    the staff screens and `flask import-statement`: input in, a service call, output
"""
