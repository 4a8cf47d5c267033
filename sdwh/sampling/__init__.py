"""TTP survey services: samples drawn from the population register, survey linkage and weights."""
