// Bug: no triangle inequality.
const valid = (sides) => sides.every((s) => s > 0);
const distinct = (sides) => new Set(sides).size;

export const equilateral = (sides) => valid(sides) && distinct(sides) === 1;
export const isosceles = (sides) => valid(sides) && distinct(sides) <= 2;
export const scalene = (sides) => valid(sides) && distinct(sides) === 3;
