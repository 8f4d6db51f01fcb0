// MathJax settings. On the Markdown pages only the math that pymdownx.arithmatex marked
// (generic mode: \( \) and \[ \] inside class "arithmatex") is typeset, so a stray $ in prose
// stays a dollar. The notebooks' pages (mkdocs-jupyter, class "jp-Notebook") keep their
// Markdown cells' $...$ and $$...$$, typeset everywhere but in code. The script runs at the end
// of the body, before MathJax loads, so the page's content is there to look at.
const notebookPage = document.querySelector(".jp-Notebook") !== null;

window.MathJax = {
  tex: {
    inlineMath: notebookPage ? [["$", "$"], ["\\(", "\\)"]] : [["\\(", "\\)"]],
    displayMath: notebookPage ? [["$$", "$$"], ["\\[", "\\]"]] : [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: notebookPage ? {} : {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"},
};

// A page that Material's instant navigation swaps in is typeset again. Not the first page:
// MathJax's startup typesets it, and clearing the output cache after that would drop the
// glyphs' CSS rules that the formulas already on the page use (they would show blank).
let firstPage = true;
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (firstPage) {
      firstPage = false;
      return;
    }
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
