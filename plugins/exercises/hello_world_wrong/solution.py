# Bug: no comma.
def hello():
    return "Hello World!"
