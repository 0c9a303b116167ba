import re
from collections import Counter


# Bug: the apostrophe splits words too.
def count_words(sentence):
    return dict(Counter(re.findall(r"[a-z0-9]+", sentence.lower())))
