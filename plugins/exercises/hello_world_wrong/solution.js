// Bug: no comma.
export const hello = () => "Hello World!";
