# Bug: reverses code points, so combining marks move.
def reverse(text):
    return text[::-1]
