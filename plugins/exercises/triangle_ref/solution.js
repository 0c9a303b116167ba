const valid = (sides) => {
  const [a, b, c] = [...sides].sort((x, y) => x - y);
  return a > 0 && a + b >= c;
};
const distinct = (sides) => new Set(sides).size;

export const equilateral = (sides) => valid(sides) && distinct(sides) === 1;
export const isosceles = (sides) => valid(sides) && distinct(sides) <= 2;
export const scalene = (sides) => valid(sides) && distinct(sides) === 3;
