/* relaywatch tables (ag-grid): what the grids evaluate in the browser. Served from this
   folder with style.css; the Python side names these functions, it never sends code. */

var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

// Cells hold the exports' text: two numbers sort as numbers ("9" before "10"), anything
// else as text (ISO times sort as times); empty cells sort last in both directions.
dagfuncs.compareCells = function (a, b, nodeA, nodeB, isDescending) {
    var emptyA = a === null || a === undefined || a === "";
    var emptyB = b === null || b === undefined || b === "";
    if (emptyA || emptyB) {
        if (emptyA && emptyB) return 0;
        return (emptyA ? 1 : -1) * (isDescending ? -1 : 1);
    }
    var numberA = Number(a);
    var numberB = Number(b);
    if (!isNaN(numberA) && !isNaN(numberB)) return numberA - numberB;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
};

window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.relaywatch = Object.assign(window.dash_clientside.relaywatch || {}, {
    // A server-paged table's inputs changed (filters, a search, a chosen customer): the
    // grid forgets its rows and asks again from page one (see dashboard.paging).
    refreshRows: async function () {
        var gridId = arguments[arguments.length - 1];
        var api = await window.dash_ag_grid.getApiAsync(gridId);
        api.paginationGoToFirstPage();
        api.purgeInfiniteCache();
        return window.dash_clientside.no_update;
    },
});
