# Sourced by the launchers: sets JDK to a JDK >= 25 (JAVA_HOME first, then /usr/lib/jvm/*, then java on PATH)
# or stops with one sentence saying how to get one.
moa_java_feature() { # prints the feature version of the JDK at $1 (e.g. 25), or nothing
  local release="$1/release" v
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release")
  else
    v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
  fi
  echo "$v"
}
moa_find_jdk() {
  local c v
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/* "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")"; do
    [ -n "$c" ] && [ -d "$c" ] || continue
    v=$(moa_java_feature "$c")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then JDK="$c"; return 0; fi
  done
  echo "moa: no JDK 25 or newer found (looked at JAVA_HOME, /usr/lib/jvm and PATH); install one (e.g. 'apt-get install temurin-25-jdk' or from adoptium.net) and set JAVA_HOME to it." >&2
  exit 1
}
moa_find_jdk
export JAVA_HOME="$JDK"
