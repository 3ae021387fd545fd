# escape=`
# A Windows Dockerfile: backtick continuations, CRLF line endings.
ARG WINDOWS_VERSION=ltsc2022
FROM mcr.microsoft.com/windows/servercore:${WINDOWS_VERSION} `
  AS build
RUN dir c:\ `
    && echo done
FROM `
	# a comment inside the continuation
	mcr.microsoft.com/windows/nanoserver:ltsc2022
COPY --from=build C:\app C:\app
