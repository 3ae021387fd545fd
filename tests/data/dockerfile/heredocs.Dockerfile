# syntax=docker/dockerfile:1.7
FROM alpine:3.20 AS base
RUN <<EOF
FROM evil:1
echo "not an instruction"
EOF
RUN <<-EOT sh
	FROM evil:2
	EOT
COPY <<a <<"b" /dst/
FROM evil:3
a
FROM evil:4
b
RUN 3<<'END' cat
FROM evil:5
END
RUN ["sh", "-c", "cat <<EOF"]
FROM busybox:1.36
COPY <<EOF /etc/motd
FROM evil:6
EOF
