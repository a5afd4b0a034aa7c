// The physical floor: a Worker that does nothing but forward the request to
// the same upstream Keybrake uses. No proxy that checks a key can beat it.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname.replace(/^\/stripe/, "") + url.search, request);
  },
};
