// Bug: treats the lists as sets.
export const sublist = (one, two) => {
  if (one.length === two.length && one.every((x, i) => two[i] === x)) return "EQUAL";
  if (one.every((x) => two.includes(x))) return "SUBLIST";
  if (two.every((x) => one.includes(x))) return "SUPERLIST";
  return "UNEQUAL";
};
