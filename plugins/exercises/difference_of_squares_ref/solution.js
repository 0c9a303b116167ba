export function squareOfSum(n) {
  const sum = (n * (n + 1)) / 2;
  return sum * sum;
}

export function sumOfSquares(n) {
  return (n * (n + 1) * (2 * n + 1)) / 6;
}

export function differenceOfSquares(n) {
  return squareOfSum(n) - sumOfSquares(n);
}
