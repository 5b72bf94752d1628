// Region fields take a region's code, which is what the server stores and checks, but people
// know regions by name. Typing a name (or part of one) into a region field offers the
// matching regions of the reader's own subtree, from /api/v1/regions?q=, as the field's
// suggestions; choosing one puts its code in the field. A field that had suggestions of its
// own gets them back once it is emptied or holds digits. Without this script (or without a
// network answer) the field still takes a code as typed.
(function () {
  "use strict";
  var SEARCH_DELAY_MS = 200;
  var SHOWN = 20;
  var fields = document.querySelectorAll("input[name='region_code']");
  Array.prototype.forEach.call(fields, function (field, index) {
    var list = field.list;
    if (!list) {
      list = document.createElement("datalist");
      list.id = "region-picker-" + index;
      field.insertAdjacentElement("afterend", list);
      field.setAttribute("list", list.id);
    }
    var own = Array.prototype.map.call(list.children, function (option) {
      return option.cloneNode(true);
    });
    var timer = null;
    var asked = "";
    field.setAttribute("autocomplete", "off");
    // A phone's number pad cannot type a name.
    field.removeAttribute("inputmode");
    field.setAttribute("data-region-picker", list.id);

    function show(options) {
      while (list.firstChild) {
        list.removeChild(list.firstChild);
      }
      options.forEach(function (option) {
        list.appendChild(option);
      });
    }

    function search(text) {
      asked = text;
      var url = "/api/v1/regions?limit=" + SHOWN + "&q=" + encodeURIComponent(text);
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : [];
        })
        .then(function (regions) {
          if (asked !== text) {
            return;
          }
          show(
            regions.map(function (region) {
              var option = document.createElement("option");
              option.value = region.code;
              option.label = region.name + " · " + region.code;
              option.textContent = region.name;
              return option;
            })
          );
        })
        .catch(function () {
          // No answer: the field keeps taking a code as typed.
        });
    }

    field.addEventListener("input", function () {
      var text = field.value.trim();
      clearTimeout(timer);
      if (text === "" || /^[0-9]+$/.test(text)) {
        asked = "";
        show(own.map(function (option) {
          return option.cloneNode(true);
        }));
        return;
      }
      timer = setTimeout(function () {
        search(text);
      }, SEARCH_DELAY_MS);
    });
  });
})();
