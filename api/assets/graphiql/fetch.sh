#!/usr/bin/env bash
# Fetches the GraphiQL page's scripts and styles from the npm registry, once, into this
# directory (the files are committed and compiled into the binary, so that GraphiQL works on
# networks without Internet access). Re-run it to upgrade, then bump the versions below.
set -euo pipefail
cd "$(dirname "$0")"

GRAPHIQL=4.0.3
REACT=18.3.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in graphiql-$GRAPHIQL react-$REACT react-dom-$REACT; do
  mkdir -p "$work/$pkg"
  tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done

cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" graphiql.min.js
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" graphiql.min.css
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" LICENSE.graphiql
cp "$work/react-$REACT/package/umd/react.production.min.js" react.production.min.js
cp "$work/react-$REACT/package/LICENSE" LICENSE.react
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" react-dom.production.min.js
cp "$work/react-dom-$REACT/package/LICENSE" LICENSE.react-dom
echo "graphiql $GRAPHIQL, react $REACT, react-dom $REACT" > VERSIONS
ls -l
