// dreamlift app: the token page sends the token once as ?token=; the server answers with a cookie.
const input = document.getElementById("token");
const go = () => { if (input.value.trim()) location.assign("/?token=" + encodeURIComponent(input.value.trim())); };
document.getElementById("go").addEventListener("click", go);
input.addEventListener("keydown", (event) => { if (event.key === "Enter") go(); });
