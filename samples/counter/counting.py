"""The counting rule, in its own module to show that webapp imports are isolated per deploy."""


def bump(session):
    count = session.get("count", 0) + 1
    session["count"] = count
    return count
