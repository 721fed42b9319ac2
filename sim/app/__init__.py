"""The interactive workshop dashboard (Solara).

``sim.app.dashboard`` is the Solara page (``solara run sim.app.dashboard``; normally started by
``gapsim dashboard``). ``sim.app.view`` is the only module that reads a live model (positions,
incidents, the date, daily series); ``sim.app.mapview`` draws the map, ``sim.app.charts`` the
live charts. The model never imports anything from here.
"""
