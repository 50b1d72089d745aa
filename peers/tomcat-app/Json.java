package oxedge.testapp;

/** Just enough JSON writing for the test app; a library would be one more jar to ship and compile against. */
class Json {
    protected final StringBuilder sb = new StringBuilder();
    private boolean first = true;

    Json() {
        sb.append('{');
    }

    private Json(char open) {
        sb.append(open);
    }

    /** A JSON array; keys passed to it are ignored. */
    static final class Array extends Json {
        Array() {
            super('[');
        }

        @Override
        public String toString() {
            return sb + "]";
        }
    }

    private Json key(String key) {
        if (!first) {
            sb.append(',');
        }
        first = false;
        if (key != null && !(this instanceof Array)) {
            quote(key);
            sb.append(':');
        }
        return this;
    }

    Json str(String key, String value) {
        key(key);
        if (value == null) {
            sb.append("null");
        } else {
            quote(value);
        }
        return this;
    }

    Json num(String key, long value) {
        key(key).sb.append(value);
        return this;
    }

    Json bool(String key, boolean value) {
        key(key).sb.append(value);
        return this;
    }

    Json raw(String key, String json) {
        key(key).sb.append(json);
        return this;
    }

    Json raw(String json) {
        return raw(null, json);
    }

    private void quote(String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    @Override
    public String toString() {
        return sb + "}";
    }
}
