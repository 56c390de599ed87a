"""A Twilio-compatible phone network in one process, for development, tests and benchmarks.

It speaks only Twilio's wire format (REST, TwiML, signed webhooks) and imports nothing from the
product.
"""
