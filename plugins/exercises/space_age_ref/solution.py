PERIODS = {
    "mercury": 0.2408467,
    "venus": 0.61519726,
    "earth": 1.0,
    "mars": 1.8808158,
    "jupiter": 11.862615,
    "saturn": 29.447498,
    "uranus": 84.016846,
    "neptune": 164.79132,
}


def age(planet, seconds):
    if planet not in PERIODS:
        raise ValueError("not a planet")
    return round(seconds / 31557600 / PERIODS[planet], 2)
