// When the session ends while the dashboard is open, the next 30-second refresh gets a 401
// from the server: send the user to the login page instead of leaving stale charts up.
(function () {
  const originalFetch = window.fetch;
  window.fetch = function (...args) {
    return originalFetch.apply(this, args).then(function (response) {
      if (response.status === 401 && String(response.url).includes("/_dash-")) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
      }
      return response;
    });
  };
})();
