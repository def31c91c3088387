"""OpenFeature for rampway flags: an in-process provider and the OFREP server endpoints.

    rampway.openfeature.provider.RampwayProvider   for the official `openfeature-sdk`
                                                   (imports it: install `openfeature-sdk`)
    rampway.openfeature.ofrep.OfrepEndpoints       /ofrep/v1/… on the gateway, for the official
                                                   `openfeature-provider-ofrep` (and others)

Nothing is imported here, so the gateway can serve OFREP without the SDK installed.
"""
