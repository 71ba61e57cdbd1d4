# `cpack -G DEB` in a build directory makes the edgecache .deb: the binaries (edgecache,
# edgecachectl and their epoll twins), a commented /etc/edgecache/node.toml, the systemd
# unit, the logrotate snippet and the docs; the maintainer scripts (deploy/debian/) add the
# edgecache system user. docs/operations.md.
install(TARGETS edgecache edgecachectl RUNTIME DESTINATION bin)
if(TARGET epoll_twins)  # the binaries on epoll, for hosts without io_uring
  install(PROGRAMS ${CMAKE_BINARY_DIR}/server/edgecache-epoll
                   ${CMAKE_BINARY_DIR}/cli/edgecachectl-epoll DESTINATION bin)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/deploy/node.toml DESTINATION /etc/edgecache)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/logrotate/edgecache DESTINATION /etc/logrotate.d)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/edgecache.service
        DESTINATION /lib/systemd/system)
file(GLOB edgecache_docs ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${edgecache_docs} DESTINATION share/doc/edgecache)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME edgecache)
set(CPACK_PACKAGE_VENDOR "edgecache")
set(CPACK_PACKAGE_CONTACT "edgecache developers <edgecache@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "persistent, disk-backed HTTP cache and caching reverse proxy for CDN edge nodes")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the binaries' shared libraries
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
