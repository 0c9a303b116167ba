export function squareOfSum(n) {
  const sum = (n * (n + 1)) / 2;
  return sum * sum;
}

// Bug: off by one, stops before n.
export function sumOfSquares(n) {
  let total = 0;
  for (let i = 1; i < n; i++) total += i * i;
  return total;
}

export function differenceOfSquares(n) {
  return squareOfSum(n) - sumOfSquares(n);
}
