"""The interactive workshop dashboard (Solara, on Mesa's SolaraViz).

``sim.app.dashboard`` is the Solara page (``solara run sim.app.dashboard``; normally started by
``gapsim dashboard``). ``sim.app.mapview`` draws the map, ``sim.app.charts`` the live charts.
The model never imports anything from here.
"""
