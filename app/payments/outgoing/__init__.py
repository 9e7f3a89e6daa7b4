"""Money out or not coming in: SEPA direct-debit collections, refunds by credit transfer. The
approval limits ("place of yes") for what gives money away are app/core/approvals.py.

    direct_debit  collecting due invoices under mandates (pain.008)
    refunds       paying back credit (pain.001), only to a confirmed refund account
    sepa_xml      writing the pain.008 / pain.001 files
    models        CollectionBatch/Item, CreditTransferBatch, Refund, WriteOff
    views, cli    the staff screens and `flask payments ...`
"""
