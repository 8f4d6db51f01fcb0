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

if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
