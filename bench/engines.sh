# Sourced by load.sh and fleet.sh: starts the servers the engines of $ENGINE need (s3rver, clickhouse-server)
# on free ports under $DATA, appends their pids to ENGINE_PIDS and their settings to ENGINE_ARGS.
#   start_engine_servers NAME   (the S3 bucket and ClickHouse database to use)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start_engine_servers() {
  if [[ ",$ENGINE," == *,s3,* ]]; then
    S3_PORT=$(free_port); mkdir -p "$DATA/s3rver"
    ( exec node --openssl-legacy-provider .test-tools/node_modules/s3rver/bin/s3rver.js -d "$DATA/s3rver" -a 127.0.0.1 -p "$S3_PORT" --no-vhost-buckets --silent ) &
    ENGINE_PIDS+=($!)
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    ENGINE_ARGS+=(--Storage:S3:Bucket="$1" --Storage:S3:ServiceUrl="http://127.0.0.1:$S3_PORT" --Storage:S3:ForcePathStyle=true)
  fi
  if [[ ",$ENGINE," == *,clickhouse,* ]]; then
    CH_PORT=$(free_port); CH="$DATA/clickhouse"; mkdir -p "$CH"
    ( exec clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- --path="$CH/data/" --tmp_path="$CH/tmp/" --user_files_path="$CH/uf/" \
        --format_schema_path="$CH/fs/" --http_port="$CH_PORT" --tcp_port="$(free_port)" --interserver_http_port="$(free_port)" \
        --listen_host=127.0.0.1 --logger.log="$CH/log" --logger.errorlog="$CH/err" >/dev/null 2>&1 ) &
    ENGINE_PIDS+=($!)
    ENGINE_ARGS+=(--Storage:ClickHouse:Url="http://127.0.0.1:$CH_PORT" --Storage:ClickHouse:Database="$1")
  fi
  if [ ${#ENGINE_PIDS[@]} -gt 0 ]; then sleep 3; fi
}
