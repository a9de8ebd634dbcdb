// Package proxy tests unisse behind a real reverse proxy: nginx running
// docs/nginx.conf, the configuration the operator docs give (build tag proxy;
// `make proxy-test`, part of `make test` when nginx is installed). It has no
// code of its own.
package proxy
