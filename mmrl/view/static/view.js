// mmrl view: filters and search over a listing (a step's samples, a benchmark's problems).
//
// The pages are complete without this script. With it, the filter bar appears; a filter hides the
// samples of this page that do not match and counts the matches on every page of the listing from
// window.MMRL_INDEX (index.js, loaded by the page). A search loads window.MMRL_TEXT (search.js)
// once. The filter lives in the address (#verdict=wrong&q=...), so links to other pages keep it.
(function () {
  "use strict";
  var index = window.MMRL_INDEX;
  var form = document.getElementById("filters");
  if (!index || !form) return;
  form.hidden = false;

  var page = Number(document.body.dataset.page || 0);
  var summary = document.getElementById("filter-summary");
  var itemWord = summary.dataset.item || "item";
  var groupWord = summary.dataset.group || "group";
  var search = form.querySelector("input[type=search]");
  var selects = {};
  Array.prototype.forEach.call(form.querySelectorAll("select[data-facet]"), function (el) {
    selects[el.dataset.facet] = el;
  });
  var text = window.MMRL_TEXT || null;
  var MAX_PAGE_LINKS = 40;
  var loadingText = false;

  function readHash() {
    var state = {};
    var hash = location.hash.replace(/^#/, "");
    if (hash.indexOf("=") < 0) return state; // a plain anchor (#g12)
    hash.split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at > 0) state[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
    });
    return state;
  }

  function currentState() {
    var state = {};
    Object.keys(selects).forEach(function (name) {
      if (selects[name].value) state[name] = selects[name].value;
    });
    var q = search.value.trim();
    if (q) state.q = q;
    return state;
  }

  function encode(state) {
    return Object.keys(state)
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(state[k]); })
      .join("&");
  }

  function setHash(state) {
    var hash = encode(state);
    var url = location.pathname + location.search + (hash ? "#" + hash : "");
    try {
      history.replaceState(null, "", url);
    } catch (e) {
      // some file:// setups refuse; the filter still applies, it is only not kept in the address
    }
  }

  function loadText(then) {
    if (text || loadingText) return;
    loadingText = true;
    var script = document.createElement("script");
    script.src = document.body.dataset.text;
    script.onload = function () { text = window.MMRL_TEXT; then(); };
    script.onerror = function () { summary.textContent = "search index could not be loaded"; };
    document.head.appendChild(script);
  }

  // The facet codes a state asks for: [[column, code], ...]; null when a value is unknown.
  function wanted(state) {
    var out = [];
    for (var f = 0; f < index.facets.length; f++) {
      var value = state[index.facets[f]];
      if (value === undefined) continue;
      var code = index.values[f].indexOf(value);
      if (code < 0) return null;
      out.push([f + 2, code]);
    }
    return out;
  }

  function matches(state) {
    var codes = wanted(state);
    var hit = new Uint8Array(index.items.length);
    if (codes === null) return hit;
    var q = (state.q || "").toLowerCase();
    for (var i = 0; i < index.items.length; i++) {
      var item = index.items[i];
      var ok = true;
      for (var c = 0; c < codes.length && ok; c++) ok = item[codes[c][0]] === codes[c][1];
      if (ok && q) ok = text.items[i].indexOf(q) >= 0 || text.groups[item[0]].indexOf(q) >= 0;
      hit[i] = ok ? 1 : 0;
    }
    return hit;
  }

  function show(hit) {
    // Items of this page: hide those that do not match; then groups left with nothing to show.
    var visible = {};
    for (var i = 0; i < index.items.length; i++) {
      var item = index.items[i];
      if (index.groups[item[0]][0] !== page) continue;
      var el = document.getElementById(item[1]);
      var key = index.groups[item[0]][1];
      if (hit === null || hit[i]) visible[key] = true;
      if (el && el.id !== key) el.hidden = hit !== null && !hit[i];
    }
    index.groups.forEach(function (group) {
      if (group[0] !== page) return;
      var el = document.getElementById(group[1]);
      if (el) el.hidden = !visible[group[1]];
    });
  }

  function pagerLinks(hash) {
    Array.prototype.forEach.call(document.querySelectorAll("a.page-link"), function (a) {
      a.href = index.pages[Number(a.dataset.page)] + (hash ? "#" + hash : "");
    });
  }

  function link(p, hash, label) {
    var a = document.createElement("a");
    a.href = index.pages[p] + "#" + hash;
    a.textContent = label;
    return a;
  }

  function apply() {
    var state = currentState();
    setHash(state);
    var hash = encode(state);
    pagerLinks(hash);
    if (!hash) {
      show(null);
      summary.textContent = "";
      return;
    }
    if (state.q && !text) {
      summary.textContent = "loading the search index…";
      loadText(apply);
      return;
    }
    var hit = matches(state);
    show(hit);
    var perPage = new Array(index.pages.length).fill(0);
    var groups = {};
    var total = 0;
    for (var i = 0; i < hit.length; i++) {
      if (!hit[i]) continue;
      total++;
      groups[index.items[i][0]] = true;
      perPage[index.groups[index.items[i][0]][0]]++;
    }
    summary.textContent = "";
    var head = document.createElement("span");
    head.className = "count";
    var where = groupWord === itemWord ? "" : ", in " + Object.keys(groups).length + " " + groupWord + "s";
    head.textContent = total + " of " + index.items.length + " " + itemWord + "s match" + where + "; " +
      perPage[page] + " on this page.";
    summary.appendChild(head);
    if (index.pages.length > 1 && total > perPage[page]) {
      var next = -1;
      for (var n = page + 1; n < perPage.length && next < 0; n++) if (perPage[n]) next = n;
      if (next >= 0) {
        summary.appendChild(document.createTextNode(" "));
        summary.appendChild(link(next, hash, "next page with a match →"));
      }
      summary.appendChild(document.createTextNode(" Pages:"));
      var listed = 0;
      var withMatches = perPage.filter(function (count) { return count > 0; }).length;
      perPage.forEach(function (count, p) {
        if (!count || listed >= MAX_PAGE_LINKS) return;
        listed++;
        summary.appendChild(document.createTextNode(" "));
        if (p === page) {
          var here = document.createElement("strong");
          here.textContent = (p + 1) + " (" + count + ")";
          summary.appendChild(here);
        } else {
          summary.appendChild(link(p, hash, (p + 1) + " (" + count + ")"));
        }
      });
      if (withMatches > listed) {
        summary.appendChild(document.createTextNode(" and " + (withMatches - listed) + " more pages"));
      }
    }
  }

  var initial = readHash();
  Object.keys(selects).forEach(function (name) {
    if (initial[name] !== undefined) selects[name].value = initial[name];
    selects[name].addEventListener("change", apply);
  });
  if (initial.q) search.value = initial.q;
  var timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 200);
  });
  document.getElementById("filters-clear").addEventListener("click", function () {
    Object.keys(selects).forEach(function (name) { selects[name].value = ""; });
    search.value = "";
    apply();
  });
  if (Object.keys(initial).length) apply();
})();
