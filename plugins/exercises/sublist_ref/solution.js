const contains = (big, small) => {
  for (let i = 0; i + small.length <= big.length; i++) {
    if (small.every((x, j) => big[i + j] === x)) return true;
  }
  return false;
};

export const sublist = (one, two) => {
  if (one.length === two.length && contains(one, two)) return "EQUAL";
  if (contains(two, one)) return "SUBLIST";
  if (contains(one, two)) return "SUPERLIST";
  return "UNEQUAL";
};
