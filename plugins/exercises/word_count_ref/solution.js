export const countWords = (sentence) => {
  const counts = {};
  for (const word of sentence.toLowerCase().match(/[a-z0-9]+(?:'[a-z0-9]+)*/g) || []) {
    counts[word] = (counts[word] || 0) + 1;
  }
  return counts;
};
