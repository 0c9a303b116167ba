import unicodedata


def reverse(text):
    # Grapheme clusters, roughly: a base character and the marks after it.
    clusters = []
    for char in text:
        if clusters and unicodedata.category(char).startswith("M"):
            clusters[-1] += char
        else:
            clusters.append(char)
    return "".join(reversed(clusters))
