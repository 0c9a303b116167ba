export const sum = (factors, limit) => {
  const multiples = new Set();
  for (const f of factors) {
    if (f === 0) continue;
    for (let m = f; m < limit; m += f) multiples.add(m);
  }
  let total = 0;
  for (const m of multiples) total += m;
  return total;
};
