// Grapheme clusters, roughly: a base character and the combining marks
// after it (Latin diacritics, Thai vowel and tone marks, and the other
// combining blocks).
const MARK = /[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/;

export const reverse = (text) => {
  const clusters = [];
  for (const c of text) {
    if (clusters.length > 0 && MARK.test(c)) {
      clusters[clusters.length - 1] += c;
    } else {
      clusters.push(c);
    }
  }
  return clusters.reverse().join("");
};
