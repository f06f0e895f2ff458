/* relaywatch links: the address bar follows the filter bar and each page's own choices, so
   the address is a link to the view (dashboard/links.py reads it back). The address is
   replaced, never pushed: no page is reloaded, and Back leaves the dashboard. */

window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.relaywatch = window.dash_clientside.relaywatch || {};

(function (relaywatch) {
    var DAYS = ["since", "until"];
    var LISTS = ["servers", "classes", "customers"];
    // dashboard/links.py PAGE_PARAMS: a page's control -> its key
    var PAGE_PARAMS = { "offenders-by": "by", "sessions-search": "q" };

    function replace(url) {
        if (url.href !== window.location.href) {
            window.history.replaceState(window.history.state, "", url.href);
        }
    }

    relaywatch.filtersToUrl = function (filters) {
        var url = new URL(window.location.href);
        filters = filters || {};
        DAYS.forEach(function (key) {
            url.searchParams.delete(key);
            if (filters[key]) url.searchParams.set(key, String(filters[key]).slice(0, 10));
        });
        LISTS.forEach(function (key) {
            url.searchParams.delete(key);
            (filters[key] || []).forEach(function (value) {
                url.searchParams.append(key, value);
            });
        });
        replace(url);
        return window.dash_clientside.no_update;
    };

    relaywatch.paramToUrl = function (value, controlId) {
        var key = PAGE_PARAMS[controlId];
        if (!key) return window.dash_clientside.no_update;
        var url = new URL(window.location.href);
        if (value) url.searchParams.set(key, value);
        else url.searchParams.delete(key);
        replace(url);
        return window.dash_clientside.no_update;
    };
})(window.dash_clientside.relaywatch);
