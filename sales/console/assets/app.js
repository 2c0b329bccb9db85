// admit console: the little script the pages need (no inline script: the
// Content-Security-Policy allows only this file and htmx).
(function () {
  "use strict";

  function digitsOf(cur) { return (cur === "JPY" || cur === "KRW") ? 0 : 2; }
  var symbols = { CNY: "¥", JPY: "¥", USD: "$", EUR: "€", GBP: "£", HKD: "HK$", KRW: "₩", TWD: "NT$", SGD: "S$" };

  // money writes minor units as the server does (Money in i18n.go).
  function money(minor, cur) {
    var d = digitsOf(cur), neg = minor < 0, s = String(Math.abs(minor));
    if (d > 0) {
      while (s.length <= d) { s = "0" + s; }
      s = s.slice(0, s.length - d) + "." + s.slice(s.length - d);
    }
    return (neg ? "-" : "") + (symbols[cur] || cur + " ") + s;
  }

  // parseMoney reads typed cash as minor units, from the digits (no float
  // arithmetic); NaN when it is not an amount.
  function parseMoney(text, cur) {
    var d = digitsOf(cur), s = text.replace(/[,\s]/g, "").replace(symbols[cur] || "", "");
    var m = /^(\d*)(?:\.(\d*))?$/.exec(s);
    if (!m || (m[1] === "" && !m[2]) || (m[2] && m[2].length > d)) { return NaN; }
    var frac = (m[2] || "");
    while (frac.length < d) { frac += "0"; }
    return parseInt((m[1] || "0") + frac, 10);
  }

  function sellForm() { return document.getElementById("sell"); }

  function selected(form) { return form.querySelector('input[name="product"]:checked'); }

  // method is the chosen way to pay: cash (the default), card or wallet.
  function method(form) {
    var m = form.querySelector('input[name="method"]:checked');
    return m ? m.value : "cash";
  }

  // payField is where the cashier types next: the cash received, or the
  // reference the card or wallet terminal printed.
  function payField(form) {
    return document.getElementById(method(form) === "cash" ? "tendered" : "reference");
  }

  // update shows what is due and the change, the holders field for a
  // real-name product and only the chosen product's slots.
  function update() {
    var form = sellForm();
    if (!form) { return; }
    var cur = form.dataset.currency, p = selected(form);
    var due = document.getElementById("due"), change = document.getElementById("change");
    var holders = form.querySelector("[data-holders]");
    if (holders) { holders.hidden = !(p && p.dataset.realname === "true"); }
    var slot = document.getElementById("slot");
    if (slot) {
      slot.parentElement.hidden = !(p && p.dataset.slots === "true");
      Array.prototype.forEach.call(slot.options, function (o) {
        if (o.dataset.product) { o.hidden = !p || o.dataset.product !== p.value; }
      });
    }
    var m = method(form), cash = m === "cash";
    var cashBox = form.querySelector("[data-cash]"), term = form.querySelector("[data-terminal]");
    if (cashBox) { cashBox.hidden = !cash; }
    if (term) { term.hidden = cash; }
    if (!p) { due.textContent = ""; change.textContent = ""; return; }
    var qty = parseInt(document.getElementById("quantity").value, 10) || 0;
    var total = parseInt(p.dataset.price, 10) * qty;
    due.textContent = money(total, cur);
    var t = document.getElementById("tendered").value.trim();
    change.textContent = "";
    if (cash && t !== "") {
      var paid = parseMoney(t, cur);
      if (!isNaN(paid)) { change.textContent = due.dataset.labelChange + " " + money(paid - total, cur); }
    }
  }

  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
    if (tag !== "INPUT") { return false; }
    return ["radio", "checkbox", "button", "submit"].indexOf(el.type) < 0;
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "F2") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
      return;
    }
    if (e.key === "F8") {
      var pr = document.getElementById("print-80");
      if (pr) { e.preventDefault(); pr.click(); }
      return;
    }
    var form = sellForm();
    // F3 card, F4 wallet: the terminal took the money; the same key again
    // goes back to cash.
    var fm = form && /^F[0-9]{1,2}$/.test(e.key) && form.querySelector('input[name="method"][data-fkey="' + e.key + '"]');
    if (fm) {
      e.preventDefault();
      var back = fm.checked ? form.querySelector('input[name="method"][value="cash"]') : fm;
      back.checked = true;
      update();
      payField(form).focus();
      return;
    }
    // 1-9 pick a product unless the cashier is typing into a field.
    if (form && !e.ctrlKey && !e.altKey && !e.metaKey && /^[1-9]$/.test(e.key) && !typing(document.activeElement)) {
      var r = form.querySelector('input[name="product"][data-key="' + e.key + '"]');
      if (r) {
        e.preventDefault();
        r.checked = true;
        update();
        pickedKey = e.key; // the focus moves on at keyup, so the digit is not typed into the next field
      }
    }
  });

  var pickedKey = null;
  document.addEventListener("keyup", function (e) {
    if (pickedKey === null || e.key !== pickedKey) { return; }
    pickedKey = null;
    var form = sellForm();
    if (!form) { return; }
    var h = form.querySelector("[data-holders]");
    var next = (h && !h.hidden) ? document.getElementById("holders") : payField(form);
    next.focus();
  });

  document.addEventListener("input", update);
  document.addEventListener("change", update);

  function init() {
    var form = sellForm();
    if (form) {
      update();
      var p = selected(form) || form.querySelector('input[name="product"]');
      var open = document.getElementById("open-shift");
      if (open && open.dataset.needShift === "true") {
        document.getElementById("float").focus();
      } else if (p && !document.querySelector(".error")) { p.focus(); }
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
  document.addEventListener("htmx:afterSettle", init);
})();
