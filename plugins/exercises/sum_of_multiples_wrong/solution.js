// Bug: a multiple of two factors counts twice.
export const sum = (factors, limit) => {
  let total = 0;
  for (const f of factors) {
    if (f === 0) continue;
    for (let m = f; m < limit; m += f) total += m;
  }
  return total;
};
