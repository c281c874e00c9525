// ipywidgets' HTML manager typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue);
// this book serves MathJax 3. Map the old call onto the new one so widget pages raise no errors.
(function () {
  function shim() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = { Queue: function () { if (window.MathJax.typesetPromise) { window.MathJax.typesetPromise(); } } };
    }
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
  window.addEventListener("load", shim);
  var timer = setInterval(shim, 50);
  setTimeout(function () { clearInterval(timer); }, 5000);
})();
