/* Users and sessions as the self-service and admin APIs show them: one rendering for both. */
#include "server/core/core.h"

json_t *srv_user_json(const struct store_user *u, const struct store_identity *idns, size_t n)
{
    json_t *meta = json_loads(u->metadata ? u->metadata : "{}", 0, NULL);
    json_t *j =
        json_pack("{s:s, s:s?, s:s?, s:s, s:b, s:I, s:I, s:o}", "id", u->id, "email",
                  u->email[0] ? u->email : NULL, "name", u->name[0] ? u->name : NULL, "status",
                  u->status == STORE_USER_ACTIVE ? "active" : "disabled", "anonymous", u->anonymous,
                  "created_at", (json_int_t)u->created_at, "updated_at", (json_int_t)u->updated_at,
                  "metadata", meta ? meta : json_object());
    if (j && u->email[0])
        json_object_set_new(j, "email_verified", json_boolean(u->email_verified));
    if (j && idns) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "id", idns[i].id, "provider",
                                                 idns[i].provider, "created_at",
                                                 (json_int_t)idns[i].created_at));
        json_object_set_new(j, "identities", arr);
    }
    return j;
}

json_t *srv_session_json(const struct store_session *s, int current)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:s}", "id", s->id, "client_id",
        s->client_id, "amr", s->amr, "created_at", (json_int_t)s->created_at, "last_used_at",
        (json_int_t)s->last_used_at, "idle_expires_at", (json_int_t)s->idle_expires_at,
        "absolute_expires_at", (json_int_t)s->absolute_expires_at, "client_ip", s->client_ip,
        "user_agent", s->user_agent, "current", current, "kind", s->browser ? "browser" : "app");
    if (j && s->parent_id[0])
        json_object_set_new(j, "parent_id", json_string(s->parent_id));
    return j;
}
