export const classify = (n) => {
  if (n < 1) {
    throw new Error("Classification is only possible for positive integers.");
  }
  let sum = 0;
  for (let i = 1; i * i <= n; i++) {
    if (n % i === 0) {
      sum += i;
      if (i !== n / i) sum += n / i;
    }
  }
  sum -= n;
  if (sum === n) return "perfect";
  return sum > n ? "abundant" : "deficient";
};
