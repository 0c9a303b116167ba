// Bug: the aliquot sum starts at 1, even for 1 itself.
export const classify = (n) => {
  if (n < 1) {
    throw new Error("Classification is only possible for positive integers.");
  }
  let sum = 1;
  for (let i = 2; i * i <= n; i++) {
    if (n % i === 0) {
      sum += i;
      if (i !== n / i) sum += n / i;
    }
  }
  if (sum === n) return "perfect";
  return sum > n ? "abundant" : "deficient";
};
