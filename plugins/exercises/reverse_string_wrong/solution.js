// Bug: reverses code points, so combining marks move.
export const reverse = (text) => [...text].reverse().join("");
