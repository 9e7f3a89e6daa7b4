"""Money in online: checkouts through a payment-provider plugin, and booking what they paid.

    provider   the contract a payment-provider plugin implements, and which ones are available
    checkouts  starting a checkout, hearing back from the provider, booking the payment
    models     OnlineCheckout
"""
