"""Reports: markdown helpers and figures shared by every stage's human-readable report, and the
training and adapt reports themselves.
"""
