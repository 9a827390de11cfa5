"""Engagement: reactions read on a decaying schedule, the inbox of replies, reports, notices.

Kept free of imports: ``klapper.ledger.schema`` loads ``engagement.schema`` for its tables.
"""
